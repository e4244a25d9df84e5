package budget

// AlertAt exposes alertAt to the package's external tests.
var AlertAt = alertAt
