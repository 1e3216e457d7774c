// Command gomain is a stand-in service for the specs tests.
package main

func main() {}
