test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client", "init"]
    }
    parallel_driver "init" {
      service = "client"
      command = ["/bin/client", "init"]
    }
  }

  faults {
    kill {}
    kill {}
  }
}

test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client", "init"]
    }
  }
}
