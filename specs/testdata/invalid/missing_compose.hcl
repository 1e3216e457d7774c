test "bank" {
  compose = "nope.yaml"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client"]
    }
  }
}
