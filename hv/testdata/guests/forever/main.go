// Command forever spins without system calls until it is stopped.
package main

func main() {
	x := 0
	for {
		x++
	}
}
