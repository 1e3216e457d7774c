# The same test against the fixed kvstore (KV_ACK=majority): every property
# holds, so `mvrun test safe.hcl` exits 0.
test "kvstore-safe" {
  compose  = "docker-compose.safe.yaml"
  duration = "20s"
  seeds    = 8

  workload {
    parallel_driver "write" {
      service   = "client"
      command   = ["/bin/client", "write", "40"]
      instances = 2
    }
    eventually "leader" {
      service = "client"
      command = ["/bin/client", "wait-leader"]
    }
    finally "check" {
      service = "client"
      command = ["/bin/client", "check"]
    }
  }

  faults {
    partition {
      every      = "4s"
      kinds      = ["halves", "isolate", "majorities"]
      heal_after = "1s..4s"
    }
    kill {
      services      = ["kv1", "kv2", "kv3"]
      every         = "6s"
      restart_after = "500ms..3s"
    }
    pause {
      services = ["kv1", "kv2", "kv3"]
      every    = "8s"
      duration = "500ms..2s"
    }
  }

  check "kv" {
    model   = "kv"
    timeout = "30s"
  }
}
