package main

import "fmt"

// The bar at the end of each call line: the budget used so far.
func Example_bar() {
	fmt.Println(bar(0, 6000))
	fmt.Println(bar(2880, 6000))
	fmt.Println(bar(6300, 6000)) // over: a call used more than it reserved
	// Output:
	// [----------]   0%
	// [#####-----]  48%
	// [##########] 105%
}
