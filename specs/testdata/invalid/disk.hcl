test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client"]
    }
  }

  faults {
    disk {
      kinds       = ["full", "melt"]
      probability = 3
      latency     = "-1s"
    }
  }
}
