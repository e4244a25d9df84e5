package billing_test

import (
	"fmt"

	"github.com/spendguard/spendguard/internal/providertest/billing"
)

func ExampleBiller_OpenAI() {
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"Hello!"}]}`)
	plain := billing.Biller{}.OpenAI(body)
	router := billing.Biller{HiddenPrompt: 612}.OpenAI(body)
	fmt.Println(plain, router-plain)
	// Output: 9 612
}
