package main

// Exit codes. Only this command decides them: the packages it calls
// return errors (typed where the kind matters), and the command maps each
// outcome to one of these.
const (
	exitOK     = 0
	exitFailed = 1 // a property failed
	exitUsage  = 2 // usage or spec error
	exitInfra  = 3 // infrastructure error
)
