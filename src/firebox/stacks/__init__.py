"""Stacks: a template of resources applied to the platform, as CloudFormation applies one."""
