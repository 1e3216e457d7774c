module github.com/mvrun/multiverse/sdk

go 1.23
