module example.com/catmod

go 1.23

require github.com/mvrun/multiverse/sdk v0.0.0

replace github.com/mvrun/multiverse/sdk => ../../../../sdk
