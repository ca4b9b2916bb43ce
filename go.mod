module github.com/vadvisor/vadvisor

go 1.26.8

require github.com/digitalocean/go-libvirt v0.0.0-20261013170128-efbbdf578ac8

require (
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
