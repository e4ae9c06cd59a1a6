// Package users is the user registration and lookup service's domain on top
// of package core: a user and its JSON rendering, the rules a value read
// from L2 must meet (Valid), the Store that holds users (bolt, postgres and
// memory implement it; userstest is its suite), and Cache, which reads
// users through the two tiers and publishes the writes of the user API.
package users
