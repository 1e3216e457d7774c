# The etcd harness with kills heavier than etcd tolerates: servers are killed every second and stay down 8-15s, so quorum is lost for long stretches.
test "etcd-heavy-kills" {
  compose  = "docker-compose.yaml"
  backend  = "process"
  duration = "40s"
  seeds    = 1
  seed_timeout = "5m"

  workload {
    templates = "/opt/antithesis/test/v1"
    service   = "client"
  }

  faults {
    partition {
      every      = "6s"
      kinds      = ["halves", "isolate"]
      heal_after = "1s..4s"
    }
    kill {
      services      = ["etcd0", "etcd1", "etcd2"]
      every         = "1s"
      restart_after = "8s..15s"
    }
    pause {
      services = ["etcd0", "etcd1", "etcd2"]
      every    = "8s"
      duration = "500ms..2s"
    }
  }
}
