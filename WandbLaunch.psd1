# For working in this repository: `build.ps1 -Task Build` writes the module to out/module/WandbLaunch/ (the folder
# the Package task publishes, its manifest is module/WandbLaunch.psd1) and `Import-Module ./WandbLaunch.psd1` loads
# that build. PowerShell imports the module this root module names in place of this stub, so the imported module
# (its ModuleBase, help, exports) is the built one. Only the version comes from this stub: keep it the same as
# module/WandbLaunch.psd1's (tests/pester/Isolation.Tests.ps1 checks).
@{
    RootModule    = 'out/module/WandbLaunch/WandbLaunch.psd1'
    ModuleVersion = '0.1.0'
}
