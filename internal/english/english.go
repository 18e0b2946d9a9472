// Package english makes the counted words of svcgraph's messages agree with their numbers.
package english

import "strconv"

// Noun is noun for one thing and its plural (noun+"s") for any other number: every noun
// svcgraph counts takes a plain "s".
func Noun(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// Count says how many: Count(1, "node") is "1 node", Count(3, "node") is "3 nodes".
func Count(n int, noun string) string {
	return strconv.Itoa(n) + " " + Noun(n, noun)
}

// Be is the verb "to be" agreeing with n things: "is" for one, "are" otherwise.
func Be(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
