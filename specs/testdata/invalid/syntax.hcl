test "bank" {
  compose = "compose.yaml"
  seeds = 
}
