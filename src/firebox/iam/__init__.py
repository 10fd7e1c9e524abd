"""IAM as far as functions need it: roles, their policies, and deciding calls against them."""
