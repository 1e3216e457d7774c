test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client"]
    }
  }

  faults {
    link {
      loss      = 1.5
      duplicate = -0.1
      reorder   = "often"
    }
  }
}
