@{
    # The cmdlet assembly itself: PowerShell loads it into its own load context; it loads the engine and the
    # engine's libraries into a private one on first use (src/WandbLaunch.Loader).
    RootModule           = 'bin/WandbLaunch.dll'
    ModuleVersion        = '0.1.0'
    CompatiblePSEditions = @('Core')
    GUID                 = '0b6f3c52-5d0e-4f4e-9a59-2d1c7e3b8a41'
    Author               = 'WandbLaunch contributors'
    CompanyName          = 'WandbLaunch'
    Copyright            = '(c) WandbLaunch contributors. MIT License.'
    Description          = 'W&B Launch for PowerShell: launch queues, agents, builders and runners as binary cmdlets, with an embedded local store.'
    PowerShellVersion    = '7.4'
    FormatsToProcess     = @('WandbLaunch.Format.ps1xml')
    FunctionsToExport    = @()
    CmdletsToExport      = @(
        'Connect-WandbLaunch'
        'Get-WandbLaunchConnection'
        'New-WandbLaunchQueue'
        'Get-WandbLaunchQueue'
        'Set-WandbLaunchQueue'
        'Remove-WandbLaunchQueue'
        'New-WandbLaunchAgentConfig'
        'Get-WandbLaunchAgentConfig'
        'Set-WandbLaunchAgentConfig'
        'Test-WandbLaunchAgentConfig'
        'Submit-WandbLaunchJob'
        'Invoke-WandbLaunchJob'
        'Get-WandbLaunchJob'
        'Wait-WandbLaunchJob'
        'Stop-WandbLaunchJob'
        'Remove-WandbLaunchJob'
        'Get-WandbLaunchJobLog'
        'Get-WandbLaunchJobManifest'
        'New-WandbLaunchJobArtifact'
        'Get-WandbLaunchJobArtifact'
        'Start-WandbLaunchAgent'
        'Get-WandbLaunchAgent'
        'Stop-WandbLaunchAgent'
    )
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('wandb', 'launch', 'mlops', 'queue', 'agent', 'kubernetes', 'docker')
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ProjectUri   = 'https://example.invalid/wandblaunch'
        }
    }
}
