test "bank" {
  compose = "compose.yaml"

  workload {
    first "init" {
      service = "client"
      command = ["/bin/client"]
    }
  }
  check "accounts" {
    model   = "bank"
    timeout = "soon"
  }
  check "accounts" {
    model = "kv"
  }
  check "ledger" {
    history = ""
  }
}
