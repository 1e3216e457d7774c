// Command stdlib uses a spread of the standard library and prints results
// that are the same on every run.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
)

func main() {
	sum := sha256.Sum256([]byte("mvrun"))
	fmt.Printf("sha256 %x\n", sum[:8])
	b, _ := json.Marshal(map[string]any{"b": []int{3, 1, 2}, "a": "x"})
	fmt.Println(string(b))
	f := new(big.Int).MulRange(1, 30)
	fmt.Println("30!", f)
	re := regexp.MustCompile(`(\w+)@(\w+)\.com`)
	fmt.Println(re.FindAllStringSubmatch("a@b.com, c@d.com", -1))
	words := strings.Fields("the quick brown fox jumps over the lazy dog")
	sort.Strings(words)
	fmt.Println(words)
	m := map[int]int{}
	for i := 0; i < 10000; i++ {
		m[i%97] += i
	}
	fmt.Println(len(m), m[5])
}
