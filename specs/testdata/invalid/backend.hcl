test "bank" {
  compose = "compose.yaml"
  backend = "vm"
  seeds   = 0

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client"]
    }
  }
}
