test "volumes" {
  compose = "volumes.compose.yaml"
  workload {
    templates = "/opt/antithesis/test/v1"
    service   = "db"
  }
}
