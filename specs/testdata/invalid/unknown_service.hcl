test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service = "clinet"
      command = ["/bin/client", "init"]
    }
  }

  faults {
    kill {
      services = ["kv1", "kv4", "kv2"]
    }
    clock_skew {
      services   = ["db"]
      max_offset = "1s"
    }
  }
}
