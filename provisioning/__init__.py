"""Passwordless Provisioner core: connect App Service apps to Azure databases with no secrets."""
