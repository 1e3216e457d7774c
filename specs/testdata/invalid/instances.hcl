test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service   = "client"
      command   = ["/bin/client"]
      instances = 3
    }
    parallel_driver "load" {
      service   = "client"
      command   = ["/bin/client"]
      instances = 0
    }
  }
}
