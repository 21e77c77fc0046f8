"""Tenant alerts: when to tell a tenant (`alerter`) and telling it by webhook and email
(`delivery`)."""
