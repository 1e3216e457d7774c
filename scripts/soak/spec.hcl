# The interruption soak's test (scripts/soak/interrupt.sh): the kvstore
# example with short seeds, so a run is interrupted in every phase.
test "soak" {
  compose  = "../../examples/kvstore/docker-compose.yaml"
  duration = "3s"
  seeds    = 4

  workload {
    parallel_driver "write" {
      service   = "client"
      command   = ["/bin/client", "write", "10"]
      instances = 2
    }
    finally "check" {
      service = "client"
      command = ["/bin/client", "check"]
    }
  }

  faults {
    partition {
      every      = "1s"
      heal_after = "200ms..1s"
    }
    kill {
      services      = ["kv1", "kv2", "kv3"]
      every         = "1s"
      restart_after = "100ms..500ms"
    }
    pause {
      services = ["kv1", "kv2", "kv3"]
      every    = "2s"
      duration = "100ms..500ms"
    }
  }
}
