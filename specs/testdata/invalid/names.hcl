test "my test" {
  compose = "compose.yaml"

  workload {
    first "in it" {
      service = "client"
      command = ["/bin/client"]
      env     = { "A=B" = "c" }
    }
  }

  faults {
    link {}
  }
}
