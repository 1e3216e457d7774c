# Two tests in one file; no faults block means no faults.
test "one" {
  compose  = "compose.yaml"
  duration = "10s"

  workload {
    first "hello" {
      service = "a"
      command = ["echo", "hello"]
    }
  }
}

test "two" {
  compose = "./compose.yaml"
  backend = "docker"
  seeds   = 1

  workload {
    finally "bye" {
      service = "c"
      command = ["echo", "bye"]
    }
  }
}
