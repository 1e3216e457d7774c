test "templates" {
  compose = "compose.yaml"
  workload {
    templates = "opt/antithesis"
  }
}

test "service_only" {
  compose = "compose.yaml"
  workload {
    service = "api"
  }
}
