# etcd's Antithesis harness as an mvrun test: the workload is its own
# test-composer template directory; the faults are aimed at the three
# servers (the client node runs the traffic and validation programs, and
# killing it would kill them, which Antithesis does not do either).
# Partitions and pauses only: etcd v3.7.3 tolerates them, so this run
# passes. Killing servers finds a known etcd bug (kills.hcl).
test "etcd" {
  compose  = "docker-compose.yaml"
  backend  = "process"
  duration = "40s"
  seeds    = 4
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
    pause {
      services = ["etcd0", "etcd1", "etcd2"]
      every    = "8s"
      duration = "500ms..2s"
    }
  }
}
