"""The content-addressed store, hashing, link modes, installed trees and their records, atomic writes."""
