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

# "sharded": "rare" exits 0 in about one seed in four (a Sometimes property
# that one shard alone may miss); "history" records a kv history that is
# stale (not linearizable) in about half the seeds.
test "sharded" {
  compose  = "compose.yaml"
  duration = "50ms"
  seeds    = 8

  workload {
    first "rare" {
      service = "app"
      command = ["rare"]
    }
    first "history" {
      service = "app"
      command = ["history"]
    }
  }
  check "register" {
    model = "kv"
  }
}

# "badhistory" writes a history line that is not JSON.
test "badhistory" {
  compose  = "compose.yaml"
  duration = "50ms"
  seeds    = 1

  workload {
    first "history" {
      service = "app"
      command = ["badhistory"]
    }
  }
  check "register" {
    model = "kv"
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
