# AUGUR_SANITIZE="address;undefined" or "thread": instruments every target, tests included.
if(AUGUR_SANITIZE)
  string(REPLACE ";" "," _augur_san "${AUGUR_SANITIZE}")
  add_compile_options(-fsanitize=${_augur_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_augur_san})
endif()
