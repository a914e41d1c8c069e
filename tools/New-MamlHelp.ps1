param([string] $DocsPath, [string] $OutputPath)
# Placeholder replaced by the help generator.
