# Specs for the CLI tests, run on a fake backend whose commands are scripts:
# "ok" exits 0, "fail" exits 1.
test "pass" {
  compose  = "compose.yaml"
  duration = "50ms"
  seeds    = 3

  workload {
    first "hello" {
      service = "app"
      command = ["ok"]
    }
  }
}

test "fail" {
  compose  = "compose.yaml"
  duration = "50ms"
  seeds    = 2

  workload {
    first "broken" {
      service = "app"
      command = ["fail"]
    }
  }
}

test "long" {
  compose  = "compose.yaml"
  duration = "1h"
  seeds    = 4

  workload {
    parallel_driver "spin" {
      service = "app"
      command = ["ok"]
    }
  }
}

test "partial" {
  compose  = "compose.yaml"
  duration = "20ms"
  seeds    = 100000

  workload {
    first "broken" {
      service = "app"
      command = ["fail"]
    }
  }
}
