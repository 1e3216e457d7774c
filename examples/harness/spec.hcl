# The harness example as a spec: the workload is the test-composer
# templates in the client's file system, one picked per seed.
test "harness" {
  compose  = "docker-compose.yaml"
  duration = "5s"
  seeds    = 2

  workload {
    templates = "/opt/antithesis/test/v1"
    service   = "client"
  }

  faults {
    pause {
      every    = "2s"
      duration = "100ms..500ms"
    }
  }
}
