package process

// Leftovers is leftovers for the external tests.
var Leftovers = leftovers
