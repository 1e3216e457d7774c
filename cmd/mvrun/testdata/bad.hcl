test "bad" {
  compose = "compose.yaml"
  seeds   = 0
}
