module github.com/edgeapi/gateway/bench

go 1.26.8

replace github.com/edgeapi/gateway => ../
