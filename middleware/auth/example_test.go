package auth_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/edgeapi/gateway/middleware/auth"
)

func ExampleHashKey() {
	// The same as: echo -n 'k3y-for-billing' | sha256sum
	fmt.Println(auth.HashKey("k3y-for-billing"))
	// Output: 09d67d15237fa3a1c6a705baabb7ed9091e475ba932363ce026d23eaf1dc3aad
}

func ExampleNew() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	mw, err := auth.New(auth.Config{
		APIKeys: &auth.APIKeyConfig{Keys: []auth.APIKey{
			{Name: "billing-batch", SHA256: auth.HashKey("k3y-for-billing")},
		}},
	}, log)
	if err != nil {
		panic(err)
	}
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, _ := auth.APIKeyNameFrom(r.Context())
		fmt.Println("backend sees", r.Header.Get(auth.APIKeyNameHeader), name, r.Header.Get("X-Api-Key") == "")
	})
	r := httptest.NewRequest("GET", "/orders/1", nil)
	r.Header.Set("X-API-Key", "k3y-for-billing")
	mw(backend).ServeHTTP(httptest.NewRecorder(), r)

	w := httptest.NewRecorder()
	mw(backend).ServeHTTP(w, httptest.NewRequest("GET", "/orders/1", nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	// Output:
	// backend sees billing-batch billing-batch true
	// 401 ApiKey realm="gateway"
}
