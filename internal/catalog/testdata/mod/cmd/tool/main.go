// Command tool has no assertions: no catalog is written for it.
package main

func main() {}
