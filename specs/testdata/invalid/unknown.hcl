test "bank" {
  compose  = "compose.yaml"
  duraton  = "10s"
  seedz    = 3

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client", "init"]
      retries = 3
    }
    background "x" {
      service = "client"
      command = ["x"]
    }
  }

  faults {
    crash {}
  }
}
