package redisbudget

// Test access to the scripts, to replay what a retrying client would send.
var ReserveScript = reserveScript

// Keys returns the current window's hash and lease-set keys.
func (b *Budget) Keys() []string { w, _ := b.current(); return w.keys }

// ParseKey splits a key into a budget's name and the rest, as Admin's scans do.
func (a *Admin) ParseKey(key string) (name, rest string, ok bool) { return a.parse(key) }
