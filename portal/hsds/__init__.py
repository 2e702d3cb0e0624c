"""The directory in Open Referral's Human Services Data Specification (HSDS 3.0): the read API, its tokens."""
