# mvrun spec for the kvstore example: three replicas under partitions, kills
# and pauses while clients write; the checker then verifies that every
# acknowledged write survived. With KV_ACK=leader this finds lost writes.
test "kvstore" {
  compose  = "docker-compose.yaml"
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

  # The clients record every write and the checker's reads as the history
  # "kv"; acknowledged writes that are lost make it non-linearizable.
  check "kv" {
    model   = "kv"
    timeout = "30s"
  }
}
