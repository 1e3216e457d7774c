# Valid, but with findings worth a warning.
test "warned" {
  duration     = "10s"
  seed_timeout = "5s"

  workload {
    first "hello" {
      service = "b"
      command = ["echo", "hello"]
    }
  }

  faults {
    quiet = "10s"
    kill {
      services = ["a", "b"]
    }
  }
}
