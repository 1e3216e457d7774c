test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client"]
    }
  }

  faults {
    partition {
      kinds    = ["majorities", "halves"]
      services = ["kv1", "kv2", "kv3"]
    }
    pause {
      services = ["kv1"]
    }
  }
}
