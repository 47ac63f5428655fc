SELECT /* a /* nested */ b */ x -- line
FROM "Quoted Id" WHERE y = $1